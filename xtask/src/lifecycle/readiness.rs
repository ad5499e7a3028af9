//! Waiting until a cluster serves: the scheduler answers and counts the servers.

use std::time::{Duration, Instant};

use super::container;
use super::diagnose::{
    diagnose_on_engine, log_tail, log_tail_with_advice, MISMATCHED_ADDRESS_ADVICE,
};
use crate::docker::DockerCommand;
use crate::model::Cluster;
use crate::sccache::scheduler_status::SchedulerStatus;
use crate::store::StateDir;

/// How often the containers' state and logs are looked at while waiting.
const CONTAINER_CHECK_EVERY: Duration = Duration::from_millis(500);

/// Polls the scheduler until `want` build servers have registered, a container
/// dies, a heartbeat is refused, or the deadline passes; failures carry the log.
pub fn wait_ready(
    state: &StateDir,
    c: &Cluster,
    want: u64,
    timeout: Duration,
) -> anyhow::Result<SchedulerStatus> {
    let addr = c.scheduler_url();
    let deadline = Instant::now() + timeout;
    let mut next_check = Instant::now();
    loop {
        let last_error = match super::tls::scheduler_status(state, c) {
            Ok(s) if s.num_servers >= want => {
                check_sandboxes(c)?;
                return Ok(s);
            }
            Ok(s) => format!(
                "the scheduler answers with {} of {want} build server(s) registered",
                s.num_servers
            ),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= next_check {
            for name in c.containers() {
                check_container(c, name)?;
            }
            next_check = Instant::now() + CONTAINER_CHECK_EVERY;
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the build servers did not register with the scheduler at {addr} within {}s ({last_error}); {}",
                timeout.as_secs(),
                log_tail_with_advice(&c.scheduler.container)
            );
        }
        std::thread::sleep(Duration::from_millis(50)); // the poll interval, not a wait for a state
    }
}

/// Fails at once when a container died or its heartbeats are refused: neither
/// heals by waiting.
fn check_container(c: &Cluster, name: &str) -> anyhow::Result<()> {
    if let Some(s) = container::state(name)? {
        if s.status == "exited" || s.status == "dead" {
            anyhow::bail!(
                "the container {name} {}; {}",
                s.status,
                log_tail_with_advice(name)
            );
        }
    }
    if container::log(name, 50).contains("invalid_bearer_token_mismatched_address") {
        anyhow::bail!(
            "the scheduler refuses the build server's heartbeats (advertised {}, {} network).\n{MISMATCHED_ADDRESS_ADVICE}\n{}",
            c.scheduler.address,
            c.network.mode(),
            log_tail(name)
        );
    }
    Ok(())
}

/// bubblewrap's sandbox as sccache-dist's overlay builder makes it for a job
/// (its namespaces, /proc and /dev), made once in each build server's container:
/// a server registers even when its engine denies the sandbox, and then every
/// job fails, so a registered server is not yet a working one.
/// (Without `--die-with-parent`: under `docker exec` that kills it at once.)
const SANDBOX_PROBE: &[&str] = &[
    "bwrap",
    "--cap-drop",
    "ALL",
    "--unshare-user",
    "--unshare-cgroup",
    "--unshare-ipc",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-uts",
    "--ro-bind",
    "/",
    "/",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "true",
];

/// Fails, naming the cause and the fix for the engine, when a local build
/// server's container cannot make a job's sandbox.
pub fn check_sandboxes(c: &Cluster) -> anyhow::Result<()> {
    let mut names: Vec<&str> = c.servers.iter().map(|s| s.container.as_str()).collect();
    names.dedup();
    for name in names {
        let out = DockerCommand::new(["exec", name])
            .args(SANDBOX_PROBE.iter().copied())
            .capture()?;
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || err.contains("No such container") {
            continue;
        }
        let mut why = diagnose_on_engine(&err).join("\n");
        if why.is_empty() {
            why = "every job on it would fail the same way".into();
        }
        anyhow::bail!(
            "the build server {name} registered, but its container cannot make a job's sandbox (`bwrap` in it: {}): every compile sent there would fail.\n{why}",
            err.trim()
        );
    }
    Ok(())
}
