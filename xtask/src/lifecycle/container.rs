//! The containers of a cluster as the engine sees them: their state, their log,
//! and stopping, restarting and removing them with the grace period.

use crate::docker::{self, objects};
use crate::model::run_spec::CLUSTER_LABEL;

/// `docker inspect` of one container.
pub struct ContainerState {
    /// `created`, `running`, `restarting`, `exited`, ... as the engine says.
    pub status: String,
    /// The image's healthcheck verdict, or `none` before its first run.
    pub health: String,
    /// How often the restart policy brought it back.
    pub restarts: u64,
    /// When it last started (RFC 3339, the engine's clock).
    pub started_at: String,
}

impl ContainerState {
    /// Running, or about to run again under the restart policy.
    pub fn is_up(&self) -> bool {
        self.status == "running" || self.status == "restarting"
    }
}

/// The state of container `name`, or None when there is none.
pub fn state(name: &str) -> anyhow::Result<Option<ContainerState>> {
    let fmt = "{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}|{{.RestartCount}}|{{.State.StartedAt}}";
    let Some(out) = objects::container_inspect(name, fmt).try_output()? else {
        return Ok(None);
    };
    let f: Vec<&str> = out.split('|').collect();
    anyhow::ensure!(f.len() == 4, "unexpected docker inspect output {out:?}");
    // Podman reports a health state it never updates without systemd timers:
    // say so rather than show it as the container's health.
    let kind = docker::engine_kind();
    let health = match kind.runs_healthchecks() {
        true => f[1].to_owned(),
        false => format!(
            "{} (as {} reports it; it runs no HEALTHCHECK without systemd)",
            f[1],
            kind.name()
        ),
    };
    Ok(Some(ContainerState {
        status: f[0].into(),
        health,
        restarts: f[2].parse().unwrap_or(0),
        started_at: f[3].into(),
    }))
}

/// Whether container `name` was started by this tool (carries [`CLUSTER_LABEL`]).
pub fn is_ours(name: &str) -> anyhow::Result<bool> {
    let label = docker::label_format(CLUSTER_LABEL);
    Ok(objects::container_inspect(name, &label)
        .try_output()?
        .as_deref()
        == Some("1"))
}

/// The last `tail` lines of a container's log (stdout and stderr), or "".
pub fn log(container: &str, tail: u32) -> String {
    objects::logs_tail(container, tail).combined_output_lossy()
}

/// The log lines of a container since `since` (a time `docker logs --since`
/// takes), each prefixed with its RFC 3339 timestamp, or "".
pub fn log_since(container: &str, since: &str) -> String {
    objects::logs_since(container, since).combined_output_lossy()
}

/// `docker rm --volumes`: the container and its anonymous volumes (named
/// volumes, the caches, stay).
pub fn remove(name: &str) -> anyhow::Result<()> {
    objects::remove_container(name).run_logged()
}

/// `docker stop` with the grace period: SIGTERM, then SIGKILL after it.
pub fn stop(name: &str) -> anyhow::Result<()> {
    objects::stop(name).run_logged()
}

/// `docker restart` with the grace period: the entrypoint reads the configs anew.
pub fn restart(name: &str) -> anyhow::Result<()> {
    objects::restart(name).run_logged()
}
