//! The user's own sccache daemon, as the user's shell left it: a daemon started
//! before `SCCACHE_CONF` was exported, or whose dist client failed, compiles
//! everything locally and counts no error. `sccache --dist-status` tells, and a
//! daemon keeps the config and environment it started with until
//! `sccache --stop-server`.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use super::Report;
use crate::model::Cluster;

/// The port a daemon of this environment listens on (sccache's default 4226).
fn daemon_port() -> u16 {
    std::env::var("SCCACHE_SERVER_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(4226)
}

/// What the user's daemon says about distribution, reported as a warning (it is
/// the user's shell, not the cluster): disabled, not connected, or another
/// scheduler. Nothing is started: without a daemon there is nothing to ask.
pub(super) fn check(c: &Cluster, rep: &mut Report) {
    let what = "your sccache daemon";
    let port = daemon_port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    if TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err() {
        rep.ok(
            what,
            format!("none runs on port {port}; the first compile starts one with that shell's SCCACHE_CONF (export it first)"),
        );
        return;
    }
    let out = duct::cmd("sccache", ["--dist-status"])
        .env_remove("SCCACHE_NO_DAEMON")
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run();
    let text = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        Ok(o) => {
            rep.warn(
                what,
                format!(
                    "`sccache --dist-status` failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
            );
            return;
        }
        Err(e) => {
            rep.warn(what, format!("cannot run sccache: {e}"));
            return;
        }
    };
    match verdict(&text, &c.scheduler_url()) {
        None => {
            rep.ok(what, format!("port {port}: {text}"));
        }
        Some(why) => rep.warn(what, format!("port {port}: {text}\n{why}")),
    }
}

/// Why the daemon's `--dist-status` answer means it will not distribute to the
/// cluster at `url`, or None when it will.
fn verdict(text: &str, url: &str) -> Option<String> {
    const RESTART: &str = "`sccache --stop-server` stops it; the next compile starts a fresh one with the shell's environment";
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if v.get("Disabled").is_some() {
        return Some(format!("cause: it runs with distribution disabled: it started without a dist config (SCCACHE_CONF was not exported, or its file has no [dist] scheduler_url). Fix: `export SCCACHE_CONF=...` (the file `cargo xtask client-config` wrote), then {RESTART}."));
    }
    if let Some(nc) = v.get("NotConnected") {
        let at = nc.get(0).and_then(|u| u.as_str()).unwrap_or("?");
        return Some(format!("cause: it is not connected to the scheduler at {at} (it cannot reach it, or does not trust its certificate) and compiles locally, counting no error. Fix the cause (doctor's other checks, the daemon's SCCACHE_ERROR_LOG), then {RESTART}."));
    }
    if let Some(s) = v.get("SchedulerStatus") {
        let at = s.get(0).and_then(|u| u.as_str()).unwrap_or("");
        if at.trim_end_matches('/') != url.trim_end_matches('/') {
            return Some(format!("cause: it uses the scheduler at {at}, not this cluster's {url}: it started with another SCCACHE_CONF. Fix: export the SCCACHE_CONF of this cluster, then {RESTART}."));
        }
        return None;
    }
    Some(format!(
        "an answer this tool does not know; {RESTART} if it should distribute"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dist_status_answers() {
        let url = "http://10.0.0.1:10600";
        assert!(verdict(r#"{"Disabled":"disabled"}"#, url)
            .unwrap()
            .contains("SCCACHE_CONF"));
        let nc = r#"{"NotConnected":["http://10.0.0.1:10600/","enabled, not connected, will retry in 30.0s"]}"#;
        assert!(verdict(nc, url).unwrap().contains("--stop-server"));
        let ok = r#"{"SchedulerStatus":["http://10.0.0.1:10600/",{"num_servers":1,"num_cpus":2,"in_progress":0}]}"#;
        assert_eq!(verdict(ok, url), None);
        let other = r#"{"SchedulerStatus":["http://10.9.9.9:10600/",{"num_servers":1,"num_cpus":2,"in_progress":0}]}"#;
        assert!(verdict(other, url).unwrap().contains("not this cluster's"));
    }
}
